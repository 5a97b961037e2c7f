"""The `riskgate` command.

`riskgate admin create-token --table TABLE` writes an administrator token straight into the table with
the operator's AWS credentials — how the first token of a fresh deployment is made.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskgate", description="Riskgate command-line tool")
    commands = parser.add_subparsers(dest="command", required=True)

    admin = commands.add_parser("admin", help="operator commands that use your AWS credentials")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser(
        "create-token", help="create an administrator token (user 'admin', role administrator on global)"
    )
    create.add_argument("--table", required=True, help="the Riskgate table name (a stack output)")
    create.add_argument("--name", default="bootstrap", help="a name for the token (default: bootstrap)")
    create.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    return parser


def create_admin_token(table: str, name: str, region: str | None) -> str:
    import boto3

    from riskgate.adapters.store import Store
    from riskgate.auth.tokens import generate_token

    secret = generate_token()
    client = boto3.client("dynamodb", region_name=region) if region else boto3.client("dynamodb")
    Store(table, client=client).ensure_admin_token(secret, name=name)
    return secret


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "admin" and args.admin_command == "create-token":
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            secret = create_admin_token(args.table, args.name, args.region)
        except (BotoCoreError, ClientError) as error:
            print(f"riskgate: could not create the token: {error}", file=sys.stderr)
            return 1
        print(secret)
        print("Keep this token: it is shown only once.", file=sys.stderr)
        return EXIT_OK
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

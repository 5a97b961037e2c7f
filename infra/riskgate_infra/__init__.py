"""Riskgate's CDK constructs and the stack that composes them.

Kept import-free on purpose: `layers/build.py` reads `riskgate_infra.runtime` without loading CDK.
"""

"""Riskgate: container images' findings, security status and CI verdicts."""

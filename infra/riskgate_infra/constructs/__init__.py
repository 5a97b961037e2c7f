"""One construct per concern; `riskgate_infra.stack` composes them."""

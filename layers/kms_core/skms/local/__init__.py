"""Local emulation of API Gateway + Lambda from template.yaml (what `skms serve` runs)."""

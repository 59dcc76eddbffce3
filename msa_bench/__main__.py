from msa_bench.cli import app

app()

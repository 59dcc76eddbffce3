"""Scale-out engines: feature extraction and sweeps on Ray (``--engine ray``), one training run on
several processes or GPUs with torchrun / PyTorch DDP (``--nproc-per-node``).

Ray is an optional extra (``pip install "msa_bench[ray]"``); torchrun comes with torch.
"""

"""asteroid-mvae: multichannel VAE source separation (MVAE, FastMVAE, FastMVAE2) for asteroid."""
from setuptools import find_packages, setup

setup(
    name="asteroid-mvae",
    version="0.1.0",
    description="Supervised multichannel BSS with deep generative source models for asteroid",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["asteroid_mvae", "asteroid_mvae.*", "recipes", "recipes.*"]),
    install_requires=[
        # torchaudio (imported by asteroid) exists only up to 2.11, linked to CUDA torch.
        "torch==2.11.0",
        "torchaudio==2.11.0",
        "asteroid==0.7.0",
        "pyroomacoustics==0.10.1",
        "speechbrain==1.1.2",
        "soundfile",
        "fast_bss_eval==0.1.4",
        "numba==0.68.1",  # the engine's compiled CPU kernels (torch remains the reference and GPU path)
        "tqdm",
        "matplotlib",
        "pandas",
        "PyYAML",
    ],
    extras_require={"test": ["pytest", "hypothesis==6.170.17"]},
    entry_points={"console_scripts": ["asteroid-mvae=asteroid_mvae.cli:main"]},
)

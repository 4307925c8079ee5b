"""rdrop-fairseq: R-Drop, k-step R-Drop, RealFormer and multi-sample dropout as a
fairseq plugin (``fairseq-train --user-dir rdrop_fairseq``).

fairseq itself is not declared here: fairseq 0.12.2 on PyPI does not install on
Python 3.11, and the working build (fairseq-fixed) declares torchaudio, which
would pull a second torch. ``scripts/install.sh`` installs the pinned fairseq
next to the user's own torch; see the README.
"""

from setuptools import find_packages, setup

setup(
    name="rdrop-fairseq",
    version="0.1.0",
    description="R-Drop, k-step R-Drop, RealFormer and multi-sample dropout for fairseq",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["rdrop_fairseq", "rdrop_fairseq.*", "rdrop_analysis", "rdrop_analysis.*"]),
    python_requires=">=3.8",
    install_requires=["torch>=2.1", "sacrebleu>=2.0", "sentencepiece"],
    extras_require={
        "test": ["pytest"],
        "plots": ["matplotlib"],
    },
    license="MIT",
)

"""Build fairseq's three compiled modules that training and fairseq-generate need
(batching, token blocks, BLEU), in place in an unpacked fairseq sdist (cwd),
instead of its full setup.py with the torch C++/CUDA extensions nobody here uses."""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

cy = dict(include_dirs=[numpy.get_include()], language="c++", extra_compile_args=["-std=c++11", "-O3"])
exts = cythonize([
    Extension("fairseq.data.data_utils_fast", ["fairseq/data/data_utils_fast.pyx"], **cy),
    Extension("fairseq.data.token_block_utils_fast", ["fairseq/data/token_block_utils_fast.pyx"], **cy),
], language_level=3)
exts.append(Extension("fairseq.libbleu", ["fairseq/clib/libbleu/libbleu.cpp", "fairseq/clib/libbleu/module.cpp"],
                      extra_compile_args=["-std=c++11"]))
setup(name="fairseq-ext", ext_modules=exts, script_args=["build_ext", "--inplace", "-j", "4"])

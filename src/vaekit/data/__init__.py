"""Data sources: everything becomes a :class:`Dataset` (exposed to users as ``vaekit.datasets``).

>>> import vaekit
>>> train = vaekit.datasets.load("mnist5k")
>>> train
Dataset(name='mnist5k', kind='image', n=4500, shape=(1, 28, 28), 10 classes)
"""

from ._dataset import Dataset as Dataset
from ._load import apply_spec as apply_spec
from ._load import from_array as from_array
from ._load import load as load
from ._load import train_test_split as train_test_split
from .builtin import BUILTINS as BUILTINS
from .builtin import describe as describe
from .mnist import cache_dir as cache_dir
from .mnist import read_idx as read_idx
from .synthetic import make_blobs_images as make_blobs_images
from .synthetic import make_linear_gaussian as make_linear_gaussian
from .synthetic import make_table as make_table
from .tables import decode_table as decode_table

__all__ = [
    "Dataset",
    "load",
    "apply_spec",
    "from_array",
    "train_test_split",
    "BUILTINS",
    "describe",
    "cache_dir",
    "read_idx",
    "decode_table",
    "make_blobs_images",
    "make_linear_gaussian",
    "make_table",
]

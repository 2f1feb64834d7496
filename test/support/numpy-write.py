"""Writes NumPy files for the data tests with NumPy itself: JSON on stdin names each file and its arrays."""
import json
import os
import sys

import numpy as np


def array(spec):
    a = np.asarray(spec["values"], dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
    return np.asfortranarray(a) if spec.get("fortran") else a


def main():
    job = json.load(sys.stdin)
    for f in job["files"]:
        path = os.path.join(job["dir"], f["name"])
        if "array" in f:
            np.save(path, array(f["array"]))
        else:
            arrays = {k: array(v) for k, v in f["arrays"].items()}
            (np.savez_compressed if f.get("compressed") else np.savez)(path, **arrays)
    print(json.dumps({"numpy": np.__version__}))


main()

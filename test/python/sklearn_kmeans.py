"""Reference k-means for test/kmeans-sklearn.test.ts: runs scikit-learn's KMeans on
the float32 feature sets the test wrote and writes its labels and inertia back.

Usage: python3 sklearn_kmeans.py DIR
DIR/manifest.json lists {"file", "n", "d", "k", "seed", "restarts"[, "algorithm"]}
entries (algorithm: "lloyd", the default, or "elkan"); each file
holds n*d little-endian float32 values, row-major. Writes DIR/result.json with, per
entry, "labels" (list of int), "inertia" (sklearn's, float32-accumulated) and
"inertia64" (recomputed in float64 from sklearn's labels and centres), plus the
versions used. OMP_NUM_THREADS=1 is expected in the environment (cluster sums in row order).
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.cluster import KMeans


def main(directory):
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    fits = []
    for entry in manifest["fits"]:
        x = np.fromfile(os.path.join(directory, entry["file"]), dtype="<f4")
        x = x.reshape(entry["n"], entry["d"])
        km = KMeans(
            n_clusters=entry["k"],
            random_state=entry["seed"],
            n_init=entry["restarts"],
            algorithm=entry.get("algorithm", "lloyd"),
        ).fit(x)
        centres = km.cluster_centers_.astype(np.float64)
        diff = x.astype(np.float64) - centres[km.labels_]
        fits.append(
            {
                "labels": km.labels_.astype(int).tolist(),
                "inertia": float(km.inertia_),
                "inertia64": float((diff * diff).sum()),
                "iterations": int(km.n_iter_),
            }
        )
    with open(os.path.join(directory, "result.json"), "w") as f:
        json.dump(
            {
                "fits": fits,
                "numpy": np.__version__,
                "sklearn": sklearn.__version__,
            },
            f,
        )


if __name__ == "__main__":
    main(sys.argv[1])

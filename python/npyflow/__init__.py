"""npyflow: NumPy datasets through preprocessing and oneDNN networks, on every core.

    import npyflow
    model = npyflow.Model("spec.json", "weights.pth")
    scores = model.predict(images)                      # numpy in, numpy out
    for x, y in npyflow.Dataset("images.npy", spec="spec.json", labels="labels.npy", shuffle=True):
        ...                                             # batches made in the background
    report = npyflow.score("images.npy", "scores.npy", "spec.json", "weights.pth")

Errors raise npyflow.Error (a ValueError) with the command-line program's message.
docs/python.md has the walkthrough.
"""

from ._npyflow import (  # noqa: F401
    Dataset,
    DatasetIterator,
    Error,
    Model,
    __version__,
    inspect,
    load,
    preprocess,
    score,
)

# Shown as npyflow.Error, npyflow.Model, ... in messages and help().
for _exported in (Dataset, DatasetIterator, Error, Model):
    _exported.__module__ = __name__
del _exported

__all__ = ["Dataset", "Error", "Model", "inspect", "load", "preprocess", "score", "__version__"]

"""Independent checks of what a release says: answer priors and an oracle over the phantom's truth.

Nothing here imports the question generator or the imaging pipeline: the oracle reads the
phantom's own files (NIfTI through nibabel, PNG masks through Pillow, ``phantom.json``) and
recomputes every fact a question rests on at full resolution.
"""

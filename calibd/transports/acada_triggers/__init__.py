"""ACADA trigger files: the source watching for `<file>.trigger`, DL0 file names."""

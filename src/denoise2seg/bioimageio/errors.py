"""The error of bioimage.io export and import: a message that says what the package lacks or what to do."""


class BioimageioError(ValueError):
    """A bioimage.io package cannot be written or used here; the message says why."""

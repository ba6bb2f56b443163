"""What a file that cannot be ingested raises: the API answers 415 or 422, the pipeline marks the version failed."""

from __future__ import annotations

__all__ = ["ParseError", "UnsupportedMediaType", "UnparsableDocument"]


class ParseError(Exception):
    """A file the pipeline cannot turn into text; `status` and `code` are what the API answers."""

    status = 422
    code = "unparsable_document"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedMediaType(ParseError):
    """Bytes of a type the pipeline does not read (an image, an archive, an office file, other binary)."""

    status = 415
    code = "unsupported_media_type"


class UnparsableDocument(ParseError):
    """A supported type that does not parse: a corrupt or encrypted PDF, text that is not UTF-8, no text at all."""

    status = 422
    code = "unparsable_document"

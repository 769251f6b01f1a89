"""One error root for mlfn. Each subclass carries the HTTP status and code an API answers with."""

from __future__ import annotations

import reprlib


class MlfnError(Exception):
    """Root of every error mlfn raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        # Shown to the operator at a terminal, never in an HTTP answer or a job record: it
        # may quote what a caller's source contained.
        self.detail = detail

    @property
    def full_message(self) -> str:
        return f"{self.message}; {self.detail}" if self.detail else self.message

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class ConfigError(MlfnError):
    status = 400
    code = "invalid_config"


class DataError(MlfnError):
    """The data given to ingest or train cannot be used as it is."""

    status = 422
    code = "invalid_data"


class SourceError(DataError):
    """A data source could not be read (missing file, unreachable URL)."""

    code = "source_unreadable"


class SourceNotAllowedError(DataError):
    """A caller named a data source that the environment does not allow."""

    code = "source_not_allowed"


class BadRequestError(MlfnError):
    """A request that is malformed as HTTP (not as data): 400."""

    status = 400
    code = "bad_request"


class ValidationError(MlfnError):
    """Prediction rows do not match the model's schema."""

    status = 422
    code = "invalid_input"


class UnsupportedMediaTypeError(MlfnError):
    """A body sent as something other than JSON to a route that reads only JSON."""

    status = 415
    code = "unsupported_media_type"


class IdempotencyKeyReusedError(ValidationError):
    """An Idempotency-Key sent again with a different request body."""

    code = "idempotency_key_reused"


class NotFoundError(MlfnError):
    status = 404
    code = "not_found"


class AlreadyExistsError(MlfnError):
    status = 409
    code = "already_exists"


class ConflictError(MlfnError):
    """A compare-and-swap lost its race: someone else changed the object first."""

    status = 409
    code = "conflict"


class AccessDeniedError(MlfnError):
    status = 403
    code = "access_denied"


class UnavailableError(MlfnError):
    status = 503
    code = "unavailable"


class MissingCredentialsError(UnavailableError):
    """A cloud store was named but this process has no credentials for it."""

    code = "missing_credentials"


class ModelUnavailableError(UnavailableError):
    code = "model_unavailable"


class CorruptModelError(ModelUnavailableError):
    """A stored model file, its metadata or the champion pointer cannot be read."""

    code = "model_unavailable"


class TrainingError(MlfnError):
    status = 500
    code = "training_failed"


class ExportError(MlfnError):
    status = 500
    code = "export_failed"


class AuthenticationError(MlfnError):
    """No token, or one that is malformed, expired, wrongly signed or for someone else."""

    status = 401
    code = "unauthorized"


class MissingScopeError(AccessDeniedError):
    code = "insufficient_scope"


class PayloadTooLargeError(MlfnError):
    status = 413
    code = "payload_too_large"


class MissingToolError(MlfnError):
    """A deploy needs a command-line tool (sam, gcloud, func...) that is not installed."""

    status = 400
    code = "missing_tool"


class PackageTooLargeError(MlfnError):
    """The deployment package is over the platform's size limit."""

    status = 413
    code = "package_too_large"


class DeployError(MlfnError):
    """A step of a deploy (a cloud tool's command) failed."""

    status = 500
    code = "deploy_failed"


def unreadable_json(exc: BaseException, hint: str = "send a JSON object") -> str:
    """Why a body could not be read as JSON, in the caller's terms: not UTF-8 (and where),
    nested too deeply for the reader (it recurses), a string that is not Unicode, or not
    valid JSON."""
    if isinstance(exc, RecursionError):
        return (
            "the body nests JSON arrays or objects too deeply to read (about 1,000 levels or "
            f"more); {hint}"
        )
    if isinstance(exc, UnicodeEncodeError):  # a string with a lone surrogate (json_text)
        return f"the body holds {not_unicode(exc)}; {hint}, with the characters themselves"
    if isinstance(exc, UnicodeDecodeError):
        return f"the body is not UTF-8 text (an invalid byte at offset {exc.start}); {hint}"
    return f"the body is not valid JSON; {hint}"


def not_unicode(exc: UnicodeEncodeError) -> str:
    """The string a JSON reader made of an unpaired surrogate escape, named (core.json_text)."""
    return (
        f"the string {shown(exc.object)}, which is not Unicode text: it has half of a "
        "UTF-16 surrogate pair (\\ud800 to \\udfff) alone"
    )


_SHOWN = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 3, 80, 80
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 6


def shown(value: object) -> str:
    """A caller's value as an error message quotes it: short, however long or deeply
    nested it is (a 5 MB string, a list 900 levels deep, whose full repr overflows)."""
    return _SHOWN.repr(value)

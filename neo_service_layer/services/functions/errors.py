"""Errors of the functions service (docs/functions.md). Codes are public API, never renamed.

How a run ends (``failed``, ``timed_out``, …) is an outcome recorded on the run, never an HTTP error;
these are refusals before anything runs. Limits above the operator's maximum are
``enclave.functions.limits.LimitAboveMaximum`` (``function_limit_above_maximum``).
"""

from __future__ import annotations

from neo_service_layer.errors import Conflict, NotFound, ValidationFailed


class FunctionNotFound(NotFound):
    code = "function_not_found"
    title = "Function not found"


class FunctionRunNotFound(NotFound):
    code = "function_run_not_found"
    title = "Function run not found"


class FunctionNameTaken(Conflict):
    code = "function_name_taken"
    title = "The account already has a function of that name"


class FunctionSyntaxError(ValidationFailed):
    code = "function_syntax_error"
    title = "The source is not valid JavaScript (line and column given)"


class FunctionSourceTooLarge(ValidationFailed):
    code = "function_source_too_large"
    title = "The source is over the size limit"


class FunctionArgsSchemaInvalid(ValidationFailed):
    code = "function_args_schema_invalid"
    title = "args_schema is not a valid JSON Schema"


class FunctionArgsInvalid(ValidationFailed):
    code = "function_args_invalid"
    title = "The args do not match the function's args_schema"


class FunctionSecretNotGranted(ValidationFailed):
    code = "function_secret_not_granted"
    title = "A secret the function names is not granted to it"


class FunctionSecretNotFound(ValidationFailed):
    code = "function_secret_not_found"
    title = "A secret the function names is not a secret of the account"


class FunctionConsumerInvalid(ValidationFailed):
    code = "function_consumer_invalid"
    title = "An onchain_consumers entry is not evm:<chain id>:<address> or n3:<magic>:<script hash>"

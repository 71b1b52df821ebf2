"""Every row of every error table of seed 000, as data.

The client classifies error answers with it, client-side validation raises its
messages, the simulator answers with them and the tests are parametrized over it, so
the guide's wording lives in exactly one place. Messages are copied as each table spells
them (the tables differ in trailing periods; we keep each table's own text).

Rows marked ``inferred=True`` are not in the guide: the gateway's answers and the
operations whose table has no row for a case every operation shares (403, 500).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from ._routes import Operation

__all__ = [
    "LIVE_MESSAGES",
    "SEED_ERROR_ROWS",
    "ErrorCode",
    "SeedErrorRow",
    "Wording",
    "lookup",
    "message_for",
    "worded_message",
]


class ErrorCode(enum.StrEnum):
    """A stable name for each error case of the guide, shared by client and simulator."""

    # Shared by several operations.
    TOKEN_MALFORMED = "token_malformed"  # noqa: S105 (a code, not a secret); 400: the token is not a JWT
    TOKEN_INVALID = "token_invalid"  # noqa: S105 (a code, not a secret); 401: expired or wrong token
    ROLE_FORBIDDEN = "role_forbidden"  # 403 (203): manager or operator
    NOT_ONBOARDED = "not_onboarded"  # 403: integration not complete
    SERVER_ERROR = "server_error"  # 500, generic
    OPERATION_FAILED = "operation_failed"  # 500, the operation's own failure message
    # Authentication Token.
    USERNAME_MISSING = "username_missing"
    USERNAME_FORMAT = "username_format"
    PASSWORD_MISSING = "password_missing"  # noqa: S105 (a code, not a secret)
    ACCOUNT_INACTIVE = "account_inactive"
    ACCOUNT_NOT_VERIFIED = "account_not_verified"
    WRONG_CREDENTIALS = "wrong_credentials"
    ACCOUNT_NOT_FOUND = "account_not_found"
    LOGIN_RATE_LIMITED = "login_rate_limited"
    LOGIN_RATE_LIMIT_WARNING = "login_rate_limit_warning"
    ACCOUNT_BLOCKED = "account_blocked"
    SERVICE_UNAVAILABLE = "service_unavailable"
    # Create Credential.
    USER_ID_EMPTY = "user_id_empty"
    USER_ID_INVALID = "user_id_invalid"
    CARD_FORMAT_MISSING = "card_format_missing"
    CARD_FORMAT_INVALID = "card_format_invalid"
    ISSUE_CODE_INVALID_FOR_FORMAT = "issue_code_invalid_for_format"
    RESTRICTED_FORMAT_FORBIDDEN = "restricted_format_forbidden"
    ISSUE_CODE_NOT_UINT = "issue_code_not_uint"
    ISSUE_CODE_RANGE = "issue_code_range"
    FACILITY_CODE_NOT_MAPPED = "facility_code_not_mapped"
    FACILITY_CODE_NOT_UINT = "facility_code_not_uint"
    FACILITY_CODE_RANGE = "facility_code_range"
    MOBILE_NUMBER_INVALID = "mobile_number_invalid"
    EMPTY_BODY = "empty_body"
    BODY_NOT_OBJECT = "body_not_object"
    ATTRIBUTES_INVALID = "attributes_invalid"
    ATTRIBUTE_UNSUPPORTED = "attribute_unsupported"
    ATTRIBUTE_NULL = "attribute_null"
    ATTRIBUTE_TOO_LONG = "attribute_too_long"
    USER_ID_CONFLICT = "user_id_conflict"
    MOBILE_NUMBER_CONFLICT = "mobile_number_conflict"
    CARD_NUMBERS_EXHAUSTED = "card_numbers_exhausted"
    # Resend Text Message.
    CREDENTIAL_DOWNLOADED = "credential_downloaded"
    # Save No-Tour Payloads.
    CREDENTIAL_ID_EMPTY = "credential_id_empty"
    PAYLOAD_DETAILS_INVALID = "payload_details_invalid"
    LOCK_ID_MISSING = "lock_id_missing"
    LOCK_ID_RANGE = "lock_id_range"
    SERIAL_NUMBER_MISSING = "serial_number_missing"
    PAYLOAD_MISSING = "payload_missing"
    PAYLOAD_NOT_HEX = "payload_not_hex"
    PAYLOAD_LENGTH = "payload_length"
    MULTIPLE_LOCK_IDS = "multiple_lock_ids"
    DUPLICATE_DEVICE = "duplicate_device"
    CREDENTIAL_NOT_OWNED = "credential_not_owned"
    # Lookups and deletes.
    CREDENTIAL_NOT_FOUND = "credential_not_found"
    USER_NOT_FOUND = "user_not_found"
    MALFORMED_ID = "malformed_id"
    CREDENTIAL_DELETED = "credential_deleted"
    PAYLOADS_GONE = "payloads_gone"
    SERIAL_NUMBER_INVALID = "serial_number_invalid"
    DEVICE_NOT_FOUND = "device_not_found"
    # Get All Credentials.
    PAGE_NUMBER_INVALID = "page_number_invalid"
    PAGE_SIZE_INVALID = "page_size_invalid"
    START_DATE_INVALID = "start_date_invalid"
    END_DATE_INVALID = "end_date_invalid"
    PAGE_SIZE_TOO_LARGE = "page_size_too_large"
    PAGE_NOT_FOUND = "page_not_found"
    # The gateway in front of the service ([I]: Azure API Management's own wording).
    SUBSCRIPTION_KEY_INVALID = "subscription_key_invalid"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class SeedErrorRow:
    """One row of a seed error table: the case, its status and the service's message.

    ``message`` may hold ``{placeholders}`` (``{card_format}``, ``{key}``, ``{minimum}``,
    ``{maximum}``, ``{seconds}``) that :func:`message_for` fills in.
    """

    operation: Operation
    number: int  # the row's number in the guide's table (0 for inferred rows)
    status: int
    code: ErrorCode
    message: str
    inferred: bool = False


_O = Operation
_C = ErrorCode

_ROLE_203 = (
    "You do not have permission to access the requested resource. Please contact your site "
    "administrator for more information (203)"
)
_ONBOARD = (
    "Integration is not complete for your account. Contact your site administrator for more "
    "information"
)
_GENERIC = "An error has occurred. Please try again later or contact support if the issue persists"
_USER_EMPTY = "The User Id cannot be empty UUIDv4. Please use a non-zero UUIDv4"
_CRED_EMPTY = "The Credential Id cannot be empty UUIDv4. Please use a non-zero UUIDv4"
_TOKEN = "Invalid authentication token"  # noqa: S105 (a message, not a secret)
_SUBSCRIPTION = (
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an "
    "active subscription."
)
_RATE = "Rate limit is exceeded. Try again in {seconds} seconds."
_BLOCKED = (
    "Your account has been temporarily blocked due to multiple login attempts. Please contact "
    "your site administrator for more information."
)


def _r(
    op: Operation,
    number: int,
    status: int,
    code: ErrorCode,
    message: str,
    *,
    inferred: bool = False,
) -> SeedErrorRow:
    return SeedErrorRow(op, number, status, code, message, inferred)


def _shared(op: Operation, token_number: int, dot: str) -> tuple[SeedErrorRow, ...]:
    """The token rows every authenticated table opens with (400 malformed / 401 expired)."""
    return (
        _r(op, token_number, 400, _C.TOKEN_MALFORMED, _TOKEN + dot),
        _r(op, token_number, 401, _C.TOKEN_INVALID, _TOKEN + dot),
    )


def _gateway(op: Operation) -> tuple[SeedErrorRow, ...]:
    """What the gateway answers for any operation ([I])."""
    return (
        _r(op, 0, 401, _C.SUBSCRIPTION_KEY_INVALID, _SUBSCRIPTION, inferred=True),
        _r(op, 0, 429, _C.RATE_LIMITED, _RATE, inferred=True),
        _r(op, 0, 429, _C.ACCOUNT_BLOCKED, _BLOCKED, inferred=True),
        _r(op, 0, 503, _C.SERVICE_UNAVAILABLE, _SERVICE_UNAVAILABLE, inferred=True),
    )


_SERVICE_UNAVAILABLE = (
    "The service is temporarily unavailable. Please try again later or contact support if the "
    "issue persists."
)

_FC_RANGE = "Facility code should be between {minimum} and {maximum}."

SEED_ERROR_ROWS: tuple[SeedErrorRow, ...] = (
    # 1. Authentication Token.
    _r(_O.LOGIN, 1, 400, _C.USERNAME_MISSING, "The User Name must be provided."),
    _r(_O.LOGIN, 2, 400, _C.USERNAME_FORMAT, "Invalid User Name format."),
    _r(_O.LOGIN, 3, 400, _C.PASSWORD_MISSING, "The Password must be provided."),
    _r(
        _O.LOGIN,
        4,
        403,
        _C.ACCOUNT_INACTIVE,
        "The account with the provided User Name is not active.",
    ),
    _r(
        _O.LOGIN,
        5,
        403,
        _C.ACCOUNT_NOT_VERIFIED,
        "The account has not been verified. Please contact support.",
    ),
    _r(_O.LOGIN, 6, 403, _C.WRONG_CREDENTIALS, "The User Name or Password is incorrect."),
    _r(
        _O.LOGIN,
        7,
        404,
        _C.ACCOUNT_NOT_FOUND,
        "The account with the provided User Name was not found.",
    ),
    _r(
        _O.LOGIN,
        8,
        429,
        _C.LOGIN_RATE_LIMITED,
        "We have detected too many logins with the same User Name. Please try again later.",
    ),
    _r(
        _O.LOGIN,
        9,
        429,
        _C.LOGIN_RATE_LIMIT_WARNING,
        "We have detected too many logins with the same User Name. Please be aware that further "
        "attempts to login may result in your account being blocked.",
    ),
    _r(_O.LOGIN, 10, 429, _C.ACCOUNT_BLOCKED, _BLOCKED),
    _r(_O.LOGIN, 11, 500, _C.SERVER_ERROR, _GENERIC + "."),
    _r(_O.LOGIN, 12, 503, _C.SERVICE_UNAVAILABLE, _SERVICE_UNAVAILABLE),
    # 2. Create Credential.
    *_shared(_O.CREATE_CREDENTIAL, 1, "."),
    _r(_O.CREATE_CREDENTIAL, 2, 400, _C.USER_ID_EMPTY, _USER_EMPTY + "."),
    _r(_O.CREATE_CREDENTIAL, 3, 400, _C.CARD_FORMAT_MISSING, "The Card Format must be provided."),
    _r(_O.CREATE_CREDENTIAL, 4, 400, _C.CARD_FORMAT_INVALID, "The Card Format is invalid."),
    _r(
        _O.CREATE_CREDENTIAL,
        5,
        400,
        _C.ISSUE_CODE_INVALID_FOR_FORMAT,
        "The Issue Code is invalid for Card Format - {card_format}. Supported Issue Code is 0 for "
        "{card_format}.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        6,
        400,
        _C.RESTRICTED_FORMAT_FORBIDDEN,
        "You do not have permission to create mobile credential using restricted Card Format. "
        "Please contact support",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        7,
        400,
        _C.ISSUE_CODE_NOT_UINT,
        "The Issue Code must be provided in uint format.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        8,
        400,
        _C.ISSUE_CODE_RANGE,
        "The Issue code should be between 1 and 63.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        9,
        400,
        _C.FACILITY_CODE_NOT_MAPPED,
        "The Facility Code is invalid for the restricted Card Format. Please contact support to "
        "get the valid Facility Code.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        10,
        400,
        _C.FACILITY_CODE_NOT_UINT,
        "The Facility Code must be provided in uint format.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        11,
        400,
        _C.MOBILE_NUMBER_INVALID,
        "The Mobile Number must be provided in E.164 format.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        12,
        400,
        _C.USER_ID_INVALID,
        "The User Id must be provided in UUIDv4 format.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        13,
        400,
        _C.EMPTY_BODY,
        "The Mobile Number must be provided in E.164 format. The User Id must be provided in "
        "UUIDv4 format. The Card Format must be provided.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        14,
        400,
        _C.BODY_NOT_OBJECT,
        "Invalid Create Credential Request. Please provide a valid JSON object in the request "
        "body enclosed in curly braces {{}}.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        16,
        400,
        _C.ATTRIBUTES_INVALID,
        "Invalid Attributes. Please provide a valid JSON object in Attributes enclosed in curly "
        "braces {{}}.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        17,
        400,
        _C.ATTRIBUTE_UNSUPPORTED,
        "The '{key}' is not a supported attribute.",
    ),
    _r(_O.CREATE_CREDENTIAL, 18, 400, _C.ATTRIBUTE_NULL, "The '{key}' attribute cannot be null."),
    _r(
        _O.CREATE_CREDENTIAL,
        20,
        400,
        _C.ATTRIBUTE_TOO_LONG,
        "The '{key}' attribute value exceeds the maximum character limit of 2000.",
    ),
    _r(_O.CREATE_CREDENTIAL, 21, 403, _C.ROLE_FORBIDDEN, _ROLE_203 + "."),
    _r(_O.CREATE_CREDENTIAL, 22, 403, _C.NOT_ONBOARDED, _ONBOARD + "."),
    _r(
        _O.CREATE_CREDENTIAL,
        23,
        409,
        _C.USER_ID_CONFLICT,
        "The User is already associated with a Mobile Credential. Please check the User Id and "
        "try again.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        24,
        409,
        _C.MOBILE_NUMBER_CONFLICT,
        "The Mobile Number is already associated with a User. Please check the Mobile Number and "
        "try again.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        25,
        417,
        _C.CARD_NUMBERS_EXHAUSTED,
        "The maximum Card Number limit has been reached for this Facility Code. Please use a "
        "different Facility Code.",
    ),
    _r(
        _O.CREATE_CREDENTIAL,
        26,
        500,
        _C.OPERATION_FAILED,
        "Failed to create mobile credential. Please try again later or contact support if the "
        "issue persists.",
    ),
    _r(_O.CREATE_CREDENTIAL, 27, 400, _C.FACILITY_CODE_RANGE, _FC_RANGE),
    _r(_O.CREATE_CREDENTIAL, 0, 500, _C.SERVER_ERROR, _GENERIC + ".", inferred=True),
    # 3. Resend Text Message.
    *_shared(_O.RESEND_INVITE, 1, ""),
    _r(_O.RESEND_INVITE, 2, 400, _C.USER_ID_EMPTY, _USER_EMPTY),
    _r(
        _O.RESEND_INVITE,
        3,
        400,
        _C.CREDENTIAL_DOWNLOADED,
        "Cannot resend text message as the mobile credential was downloaded by the user. Add "
        "credential again to send a new text message.",
    ),
    _r(_O.RESEND_INVITE, 4, 400, _C.CREDENTIAL_NOT_FOUND, "The requested credential was not found"),
    _r(_O.RESEND_INVITE, 5, 403, _C.ROLE_FORBIDDEN, _ROLE_203),
    _r(_O.RESEND_INVITE, 6, 403, _C.NOT_ONBOARDED, _ONBOARD),
    _r(_O.RESEND_INVITE, 7, 404, _C.USER_NOT_FOUND, "The requested user was not found"),
    _r(_O.RESEND_INVITE, 8, 500, _C.SERVER_ERROR, _GENERIC),
    _r(
        _O.RESEND_INVITE, 0, 404, _C.MALFORMED_ID, "The requested user was not found", inferred=True
    ),
    # 4. Save No-Tour Payloads.
    _r(_O.SAVE_NO_TOUR_PAYLOADS, 1, 400, _C.CREDENTIAL_ID_EMPTY, _CRED_EMPTY + "."),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        2,
        400,
        _C.BODY_NOT_OBJECT,
        "Invalid Save No-Tour Payload Request. Please provide a valid JSON object in request body "
        "enclosed in curly braces {{}}.",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        3,
        400,
        _C.PAYLOAD_DETAILS_INVALID,
        "The 'NoTourPayloadDetails' parameter must be provided as a list of credential payload "
        "that contains access commands.",
    ),
    _r(_O.SAVE_NO_TOUR_PAYLOADS, 4, 400, _C.LOCK_ID_MISSING, "The Lock Id must be provided."),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        5,
        400,
        _C.LOCK_ID_RANGE,
        "The Lock Id value must be between 1 and 65535.",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        6,
        400,
        _C.SERIAL_NUMBER_MISSING,
        "The Serial Number must be provided.",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        7,
        400,
        _C.PAYLOAD_MISSING,
        "The No-Tour Payload must be provided.",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        8,
        400,
        _C.PAYLOAD_NOT_HEX,
        "The No-Tour Payload must be a hex-encoded string.",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        9,
        400,
        _C.PAYLOAD_LENGTH,
        "The No-Tour Payload must be 96 characters in length.",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        10,
        400,
        _C.MULTIPLE_LOCK_IDS,
        "The request is invalid. Multiple Lock Ids for the same device are not allowed.",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        11,
        400,
        _C.DUPLICATE_DEVICE,
        "The request is invalid. Duplicate device details are not allowed.",
    ),
    _r(_O.SAVE_NO_TOUR_PAYLOADS, 12, 400, _C.TOKEN_MALFORMED, _TOKEN + "."),
    _r(_O.SAVE_NO_TOUR_PAYLOADS, 13, 401, _C.TOKEN_INVALID, _TOKEN + "."),
    _r(_O.SAVE_NO_TOUR_PAYLOADS, 14, 403, _C.ROLE_FORBIDDEN, _ROLE_203 + "."),
    _r(_O.SAVE_NO_TOUR_PAYLOADS, 15, 403, _C.NOT_ONBOARDED, _ONBOARD + "."),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        16,
        404,
        _C.CREDENTIAL_NOT_FOUND,
        "Credential not found in the system",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        17,
        400,
        _C.CREDENTIAL_NOT_OWNED,
        "Invalid CredentialId or IntegrationId",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        18,
        500,
        _C.OPERATION_FAILED,
        "Failed to save no-tour payloads. Please try again later or contact support if issue "
        "persists.",
    ),
    _r(
        _O.SAVE_NO_TOUR_PAYLOADS,
        19,
        500,
        _C.SERVER_ERROR,
        "An error has occurred. Please try again later or contact support if issue persists.",
    ),
    _r(_O.SAVE_NO_TOUR_PAYLOADS, 0, 404, _C.MALFORMED_ID, "No content", inferred=True),
    # 5. Get Credential by Credential Id.
    *_shared(_O.GET_CREDENTIAL, 1, ""),
    _r(_O.GET_CREDENTIAL, 2, 400, _C.CREDENTIAL_ID_EMPTY, _CRED_EMPTY),
    _r(_O.GET_CREDENTIAL, 3, 403, _C.ROLE_FORBIDDEN, _ROLE_203),
    _r(_O.GET_CREDENTIAL, 4, 403, _C.NOT_ONBOARDED, _ONBOARD),
    _r(
        _O.GET_CREDENTIAL, 5, 404, _C.CREDENTIAL_NOT_FOUND, "The requested credential was not found"
    ),
    _r(_O.GET_CREDENTIAL, 6, 404, _C.MALFORMED_ID, "No content"),
    _r(_O.GET_CREDENTIAL, 7, 500, _C.SERVER_ERROR, _GENERIC),
    _r(
        _O.GET_CREDENTIAL,
        0,
        400,
        _C.CREDENTIAL_NOT_OWNED,
        "Invalid CredentialId or IntegrationId",
        inferred=True,
    ),
    # 6. Get Credential by User Id.
    *_shared(_O.GET_CREDENTIAL_BY_USER, 1, ""),
    _r(_O.GET_CREDENTIAL_BY_USER, 2, 400, _C.USER_ID_EMPTY, _USER_EMPTY),
    _r(_O.GET_CREDENTIAL_BY_USER, 3, 403, _C.ROLE_FORBIDDEN, _ROLE_203),
    _r(_O.GET_CREDENTIAL_BY_USER, 4, 403, _C.NOT_ONBOARDED, _ONBOARD),
    _r(
        _O.GET_CREDENTIAL_BY_USER,
        5,
        404,
        _C.USER_NOT_FOUND,
        "The requested user is not associated with a credential",
    ),
    _r(_O.GET_CREDENTIAL_BY_USER, 6, 404, _C.MALFORMED_ID, "No content"),
    _r(_O.GET_CREDENTIAL_BY_USER, 7, 500, _C.SERVER_ERROR, _GENERIC),
    # 7. Get All Credentials.
    *_shared(_O.LIST_CREDENTIALS, 1, ""),
    _r(
        _O.LIST_CREDENTIALS,
        2,
        400,
        _C.PAGE_NUMBER_INVALID,
        "The pageNumber must be greater than or equal to 1.",
    ),
    _r(
        _O.LIST_CREDENTIALS,
        3,
        400,
        _C.PAGE_SIZE_INVALID,
        "The pageSize must be greater than or equal to 1.",
    ),
    _r(
        _O.LIST_CREDENTIALS,
        4,
        400,
        _C.START_DATE_INVALID,
        "Invalid startDate format. The date must be in yyyy-MM-dd format.",
    ),
    _r(
        _O.LIST_CREDENTIALS,
        5,
        400,
        _C.END_DATE_INVALID,
        "Invalid endDate format. The date must be in yyyy-MM-dd format.",
    ),
    _r(
        _O.LIST_CREDENTIALS,
        6,
        400,
        _C.PAGE_SIZE_TOO_LARGE,
        "Invalid pageSize. The maximum allowed value is {maximum}.",
    ),
    _r(
        _O.LIST_CREDENTIALS,
        7,
        404,
        _C.PAGE_NOT_FOUND,
        "Page not found. The requested page number exceeds the total number of available pages.",
    ),
    _r(_O.LIST_CREDENTIALS, 8, 403, _C.ROLE_FORBIDDEN, _ROLE_203),
    _r(_O.LIST_CREDENTIALS, 9, 403, _C.NOT_ONBOARDED, _ONBOARD),
    _r(_O.LIST_CREDENTIALS, 10, 500, _C.SERVER_ERROR, _GENERIC),
    # 8. Delete No-Tour Payloads by Credential Id.
    _r(_O.DELETE_NO_TOUR_PAYLOADS, 1, 400, _C.CREDENTIAL_ID_EMPTY, _CRED_EMPTY + "."),
    _r(
        _O.DELETE_NO_TOUR_PAYLOADS,
        2,
        404,
        _C.CREDENTIAL_NOT_FOUND,
        "Requested Credential does not exist.",
    ),
    _r(
        _O.DELETE_NO_TOUR_PAYLOADS,
        3,
        410,
        _C.PAYLOADS_GONE,
        "No Tour payloads for the requested credential reference are no longer available.",
    ),
    *(
        _r(_O.DELETE_NO_TOUR_PAYLOADS, 0, s, c, m, inferred=True)
        for s, c, m in (
            (400, _C.TOKEN_MALFORMED, _TOKEN + "."),
            (401, _C.TOKEN_INVALID, _TOKEN + "."),
            (403, _C.ROLE_FORBIDDEN, _ROLE_203 + "."),
            (403, _C.NOT_ONBOARDED, _ONBOARD + "."),
            (404, _C.MALFORMED_ID, "Requested Credential does not exist."),
            (400, _C.CREDENTIAL_NOT_OWNED, "Invalid CredentialId or IntegrationId"),
            (500, _C.SERVER_ERROR, _GENERIC + "."),
        )
    ),
    # 9. Delete No-Tour Payloads by Device Serial Number.
    _r(
        _O.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE,
        1,
        400,
        _C.SERIAL_NUMBER_INVALID,
        "The Serial number provided is not valid",
    ),
    _r(
        _O.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE,
        2,
        404,
        _C.DEVICE_NOT_FOUND,
        "No credentials were found for the provided serial number within the system",
    ),
    *(
        _r(_O.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE, 0, s, c, m, inferred=True)
        for s, c, m in (
            (400, _C.TOKEN_MALFORMED, _TOKEN + "."),
            (401, _C.TOKEN_INVALID, _TOKEN + "."),
            (403, _C.ROLE_FORBIDDEN, _ROLE_203 + "."),
            (403, _C.NOT_ONBOARDED, _ONBOARD + "."),
            (500, _C.SERVER_ERROR, _GENERIC + "."),
        )
    ),
    # 10. Delete Credential by Credential Id.
    _r(_O.DELETE_CREDENTIAL, 1, 400, _C.CREDENTIAL_ID_EMPTY, _CRED_EMPTY + "."),
    _r(_O.DELETE_CREDENTIAL, 2, 403, _C.ROLE_FORBIDDEN, _ROLE_203 + "."),
    _r(
        _O.DELETE_CREDENTIAL,
        3,
        404,
        _C.CREDENTIAL_NOT_FOUND,
        "The requested credential was not found.",
    ),
    _r(_O.DELETE_CREDENTIAL, 4, 410, _C.CREDENTIAL_DELETED, "Credential is already deleted."),
    _r(
        _O.DELETE_CREDENTIAL,
        5,
        500,
        _C.OPERATION_FAILED,
        "Could not delete credential, due to internal server error.",
    ),
    *(
        _r(_O.DELETE_CREDENTIAL, 0, s, c, m, inferred=True)
        for s, c, m in (
            (400, _C.TOKEN_MALFORMED, _TOKEN + "."),
            (401, _C.TOKEN_INVALID, _TOKEN + "."),
            (403, _C.NOT_ONBOARDED, _ONBOARD + "."),
            (404, _C.MALFORMED_ID, "The requested credential was not found."),
            (400, _C.CREDENTIAL_NOT_OWNED, "Invalid CredentialId or IntegrationId"),
        )
    ),
    # 11. Delete Credential by User Id.
    _r(_O.DELETE_CREDENTIAL_BY_USER, 1, 400, _C.USER_ID_EMPTY, _USER_EMPTY + "."),
    _r(_O.DELETE_CREDENTIAL_BY_USER, 2, 403, _C.ROLE_FORBIDDEN, _ROLE_203 + "."),
    _r(
        _O.DELETE_CREDENTIAL_BY_USER,
        3,
        404,
        _C.CREDENTIAL_NOT_FOUND,
        "The requested credential was not found.",
    ),
    _r(
        _O.DELETE_CREDENTIAL_BY_USER,
        4,
        410,
        _C.CREDENTIAL_DELETED,
        "Credential is already deleted.",
    ),
    _r(
        _O.DELETE_CREDENTIAL_BY_USER,
        5,
        500,
        _C.OPERATION_FAILED,
        "Could not delete credential, due to internal server error.",
    ),
    *(
        _r(_O.DELETE_CREDENTIAL_BY_USER, 0, s, c, m, inferred=True)
        for s, c, m in (
            (400, _C.TOKEN_MALFORMED, _TOKEN + "."),
            (401, _C.TOKEN_INVALID, _TOKEN + "."),
            (403, _C.NOT_ONBOARDED, _ONBOARD + "."),
            (404, _C.MALFORMED_ID, "The requested credential was not found."),
        )
    ),
    # The gateway, in front of every API-Only operation ([I]).
    *(row for op in Operation if not op.value.startswith("engage_") for row in _gateway(op)),
)
"""All rows, in the guide's order; inferred rows after each table's own."""

_BY_KEY: Mapping[tuple[Operation, ErrorCode], SeedErrorRow] = MappingProxyType(
    {(row.operation, row.code): row for row in reversed(SEED_ERROR_ROWS)}
)


def lookup(operation: Operation, code: ErrorCode) -> SeedErrorRow:
    """Return the row for ``code`` in ``operation``'s table (KeyError when it has none)."""
    return _BY_KEY[(operation, code)]


Wording = Literal["guide", "live"]
"""Whose words an error answer uses: the guide's tables, or the live service's."""

_LIVE_USER_NOT_FOUND = "The requested user is not associated with credential."

LIVE_MESSAGES: Mapping[tuple[Operation, ErrorCode], str] = MappingProxyType(
    {
        # [V] The public QA suite of the live service expects these words, not the guide's
        # (API-CONTRACT.md, "Where the live service departs from the guide").
        (_O.GET_CREDENTIAL, _C.CREDENTIAL_NOT_FOUND): "The requested credential was not found.",
        (_O.GET_CREDENTIAL_BY_USER, _C.USER_NOT_FOUND): _LIVE_USER_NOT_FOUND,
        (_O.RESEND_INVITE, _C.USER_NOT_FOUND): _LIVE_USER_NOT_FOUND,
        **{
            (op, _C.ROLE_FORBIDDEN): _ROLE_203 + "."
            for op in Operation
            if not op.value.startswith("engage_") and op is not _O.LOGIN
        },
    }
)
"""Where the live service words a row differently from the guide: (operation, code) -> text.

The client matches both wordings to the same code; the simulator speaks these by default.
"""


def message_for(operation: Operation, code: ErrorCode, **fields: object) -> str:
    """Return the guide's message for ``code`` in ``operation``'s table, filled in."""
    return lookup(operation, code).message.format(**fields)


def worded_message(
    wording: Wording, operation: Operation, code: ErrorCode, **fields: object
) -> str:
    """Return ``code``'s message in ``wording``: the live service's words where they differ."""
    if wording == "live":
        live = LIVE_MESSAGES.get((operation, code))
        if live is not None:
            return live.format(**fields)
    return message_for(operation, code, **fields)

"""The one exception type users of xlt can hit."""


class XltError(Exception):
    """A problem the user can fix: bad input, missing data, unknown names.

    The message says what went wrong and what to do. The CLI prints it as one
    line and exits non-zero; the app shows it in the page.
    """

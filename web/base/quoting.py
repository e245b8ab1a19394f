"""SQL quoting for statements built as text, where no driver's quoting is at hand (the
start-up step, code written into revision files). standard_conforming_strings is on, as
PostgreSQL's default."""


def identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"

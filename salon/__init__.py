"""What both programs share: the client–bridge protocol schema and the logging setup.

The appliance and the bridge import each other's code nowhere; everything they agree
on lives here (enforced by import-linter, see pyproject.toml).
"""

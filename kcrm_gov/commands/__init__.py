"""CLI command modules: each parses options, calls the library and prints.

Commands are plain ``click`` commands; :mod:`kcrm_gov.cli` adds them to the ``kcrm-gov`` group.
What they share (options, error handling, progress displays) is in :mod:`.options`. Heavy libraries
are imported inside the command functions so `kcrm-gov --help` stays fast.
"""

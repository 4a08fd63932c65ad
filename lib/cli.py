"""Command-line plumbing shared by the root scripts: one-line errors instead of tracebacks."""
import argparse
import sys


class UserError(Exception):
    """A problem the user can fix (missing data, bad flag, wrong checkpoint).

    Root scripts print its message on one line and exit with status 2 instead of a traceback.
    """


def run_main(main, argv=None):
    """Call ``main(argv)`` and turn a :class:`UserError` into ``error: <message>`` on stderr, exit 2."""
    try:
        return main(argv)
    except UserError as err:
        print("error: {}".format(err), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors (bad flag or value) become a one-line :class:`UserError`."""

    def error(self, message):
        raise UserError("{} (see {} --help)".format(message, self.prog))

"""Logging, as in optuna.logging: one logger tree under "hpo_client.optuna",
a handler on standard error by default, INFO as the default verbosity."""
import logging as _logging
import sys
import threading

CRITICAL = _logging.CRITICAL
FATAL = _logging.FATAL
ERROR = _logging.ERROR
WARNING = _logging.WARNING
WARN = _logging.WARN
INFO = _logging.INFO
DEBUG = _logging.DEBUG

_ROOT = "hpo_client.optuna"
_lock = threading.Lock()
_handler = None


def _root():
    return _logging.getLogger(_ROOT)


def _configure():
    global _handler
    with _lock:
        if _handler is not None:
            return
        _handler = _logging.StreamHandler(sys.stderr)
        _handler.setFormatter(_logging.Formatter("[%(levelname)1.1s %(asctime)s] %(message)s"))
        root = _root()
        root.addHandler(_handler)
        root.setLevel(INFO)
        root.propagate = False


def get_logger(name):
    """A logger under the adapter's tree (name is usually __name__)."""
    _configure()
    if name != _ROOT and not name.startswith(_ROOT + "."):
        name = f"{_ROOT}.{name}"
    return _logging.getLogger(name)


def get_verbosity():
    _configure()
    return _root().getEffectiveLevel()


def set_verbosity(verbosity):
    _configure()
    _root().setLevel(verbosity)


def disable_default_handler():
    _configure()
    _root().removeHandler(_handler)


def enable_default_handler():
    _configure()
    _root().addHandler(_handler)


def disable_propagation():
    _configure()
    _root().propagate = False


def enable_propagation():
    _configure()
    _root().propagate = True

"""traingate: a pre-merge policy gate for shared ML training code."""

__version__ = "0.1.0"

"""circleback: keeps a learning cohort going after its workshop, by email."""

__version__ = "0.1.0"

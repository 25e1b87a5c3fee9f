"""The config contract: one validated, frozen object per cohort, every error naming the
file, the key and the fix. The shape lives in ``model``, the checks of every key in
``parse``, the checks against the calendar in ``checks``."""

from service.config.model import (
    CheckinsConfig,
    CohortConfig,
    Config,
    ConfigError,
    DigestConfig,
    FacilitatorConfig,
    ImapConfig,
    MailConfig,
    MovedCheckin,
    ParticipantConfig,
    Problem,
    PromptConfig,
    ServerConfig,
    load_config,
)

__all__ = [
    "CheckinsConfig",
    "CohortConfig",
    "Config",
    "ConfigError",
    "DigestConfig",
    "FacilitatorConfig",
    "ImapConfig",
    "MailConfig",
    "MovedCheckin",
    "ParticipantConfig",
    "Problem",
    "PromptConfig",
    "ServerConfig",
    "load_config",
]

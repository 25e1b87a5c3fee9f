"""The config contract: one validated, frozen object per cohort, every error naming the
file, the key and the fix. The shape lives in ``model``, the checks of every key in
``parse``; ``deployment`` reads the cohorts
of one file or of a folder (DIR/circleback.toml and DIR/cohorts/*.toml)."""

from service.config.deployment import Deployment, load_config, load_deployment
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
    PollConfig,
    Problem,
    PromptConfig,
    ServerConfig,
)

__all__ = [
    "CheckinsConfig",
    "CohortConfig",
    "Config",
    "ConfigError",
    "Deployment",
    "DigestConfig",
    "FacilitatorConfig",
    "ImapConfig",
    "MailConfig",
    "MovedCheckin",
    "ParticipantConfig",
    "PollConfig",
    "Problem",
    "PromptConfig",
    "ServerConfig",
    "load_config",
    "load_deployment",
]

"""circleback: keeps a learning cohort going after its workshop, by email."""

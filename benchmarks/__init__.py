"""Performance measurements, each paired against kubectl in the same run (`make bench`)."""

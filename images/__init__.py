"""kf's function runtime image, built from Debian's packages without a container engine (`python -m images`)."""

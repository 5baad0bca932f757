"""Sample data, synthetic data, normalisation, patch sampling and augmentation."""

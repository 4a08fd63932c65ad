"""Library of the VAE / DCGAN exercise: models, losses, training loops and the helpers they share."""

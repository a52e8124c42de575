"""Model families: language models over events and frames, autoencoders, GANs."""

"""The voice library: custom voices created through the API, kept where every replica reads them."""

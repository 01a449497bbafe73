"""edgeq: quantize float neural networks to full-integer TFLite and run them on microcontrollers."""
__version__ = "0.1.0"

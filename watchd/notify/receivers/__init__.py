"""One module per receiver kind; `build_receiver` in watchd/notify/build.py picks them."""

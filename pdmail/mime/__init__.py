"""Reading raw messages: byte limits, parsing, HTML to text, content fingerprints, forwards, file names.

Pure functions over bytes and text; above ``core`` only.
"""

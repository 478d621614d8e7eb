"""The bottom layer: errors, plain records, addresses, settings, typed times, money, worker processes.

Every other package may import these; they import nothing of pdmail's outside ``core``.
"""

"""netcalc's fuzzer: mutated specs (structural, line and byte edits of the bundled specs and of every
spec under tests/), odd paths and command-line values over every command.

The contract it checks, per case: exit 0, 1 or 2 within 10 s and 1 GB, never "internal error" or
"Traceback" in the output, never a change to an input file.

    python -m tests.fuzz --minutes 30          # a campaign (its random seed is printed)
    python -m tests.fuzz --seed 7 --case 1234  # one case again

tests/test_fuzz.py runs a fixed, seeded number of cases in the normal test run.
"""

#!/usr/bin/env python3
"""Writes the benchmark's sentences: short.txt (about 14 tokens each with [CLS]/[SEP]) and long.txt
(about 80), 256 of each, the same every run."""
import random
import sys

WORDS = ("the a developer platform serves models quickly and every team builds apps that answer questions about "
         "their documents while search ranks results by meaning not keywords so users find what they need the "
         "engine runs on ordinary servers with no graphics card and keeps latency low under load").split()


def sentence(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def main(out):
    rng = random.Random(7)
    with open(f"{out}/short.txt", "w") as f:
        f.write("\n".join(sentence(rng, 11) for _ in range(256)) + "\n")
    with open(f"{out}/long.txt", "w") as f:
        f.write("\n".join(sentence(rng, 74) for _ in range(256)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])

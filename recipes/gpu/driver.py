"""`synth` and `train` through the library, without the CLI (a CUDA image may carry another typer).

Usage: python3 recipes/gpu/driver.py synth OUT --split S --hours H --voices N --seed K --max-words W --jobs J
                                   [--disfluent P]
       python3 recipes/gpu/driver.py train RECIPE.toml [KEY=VALUE ...]
"""
import sys
from pathlib import Path


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "synth":
        from frametool.synth.generate import SynthConfig, generate

        kv = dict(zip(args[1::2], args[2::2]))
        print(generate(SynthConfig(Path(args[0]), split=kv["--split"], hours=float(kv["--hours"]),
                                   num_voices=int(kv["--voices"]), seed=int(kv["--seed"]),
                                   max_words=int(kv["--max-words"]), jobs=int(kv["--jobs"]),
                                   disfluent=float(kv.get("--disfluent", 0.0)))), flush=True)
    elif cmd == "train":
        from frametool.training.train import load_recipe, train

        print(train(load_recipe(Path(args[0]), args[1:]), log=lambda line: print(line, flush=True)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

"""One training process or many: the few places where the training loop differs between them.

`frametool train RECIPE.toml` runs in one process (`Plain`): the loop of earlier versions, unchanged.
Under `accelerate launch [--config_file recipes/accelerate/...] -m frametool train RECIPE.toml`, Hugging Face
Accelerate runs it in every process (`Accelerated`): DDP or FSDP from the accelerate config, mixed precision,
gradient accumulation, checkpoint/resume through `save_state`/`load_state`. Every rank draws the same
shuffled batch groups and takes every world_size-th one (`shard`), so ranks see different data and step
together; only the main process writes checkpoints and logs.
"""
from __future__ import annotations

import contextlib
import hashlib
import os

import torch




def launched_by_accelerate() -> bool:
    """True inside `accelerate launch` (both its launchers set ACCELERATE_MIXED_PRECISION) or any
    torchrun-style launch of several processes."""
    return "ACCELERATE_MIXED_PRECISION" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def shard(groups: list, rank: int, world_size: int) -> list:
    """Every world_size-th batch group, starting at `rank`; the last groups are dropped where they do not
    fill a round, so every rank takes the same number of steps (a rank left waiting would hang DDP)."""
    usable = len(groups) // world_size * world_size
    return groups[rank:usable:world_size]


def weights_sha256(model: torch.nn.Module) -> str:
    """A digest of every parameter's bytes, in name order: equal on two ranks iff their weights are."""
    digest = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Plain:
    """One process on `device`; bf16 autocast on CUDA; gradient accumulation by summing scaled losses."""

    rank, world_size, is_main = 0, 1, True

    def __init__(self, device: torch.device, accumulation_steps: int = 1) -> None:
        self.device = device
        self.accumulation_steps = accumulation_steps
        self._micro = 0
        self.sync_gradients = True

    def prepare(self, model, optimizer):
        return model, optimizer

    def autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    @contextlib.contextmanager
    def accumulate(self, model):
        self._micro += 1
        self.sync_gradients = self._micro % self.accumulation_steps == 0
        yield

    def backward(self, loss: torch.Tensor) -> None:
        (loss / self.accumulation_steps if self.accumulation_steps > 1 else loss).backward()

    def clip(self, params, max_norm: float) -> None:
        torch.nn.utils.clip_grad_norm_(params, max_norm)

    def unwrap(self, model):
        return model

    def full_state(self, model):
        return None  # save_model reads the model's own

    def main_says(self, flag: bool) -> bool:
        return flag

    def save_state(self, folder) -> None:
        pass

    def load_state(self, folder) -> None:
        from frametool.errors import UsageError

        raise UsageError("resume = true continues from accelerate's saved state: run under `accelerate launch`")

    def wait(self) -> None:
        pass

    def end(self) -> None:
        pass


class Accelerated:
    """Every process of an `accelerate launch`; the distributed set-up comes from its config."""

    def __init__(self, device_wanted: str, accumulation_steps: int = 1) -> None:
        try:
            from accelerate import Accelerator
            from accelerate.utils import DistributedDataParallelKwargs
        except ImportError:
            from frametool.errors import UsageError

            raise UsageError("training under accelerate launch needs accelerate: pip install 'frametool[gpu]'") from None
        # heads leave some backbone weights unused (the LM head, a vision tower): DDP must not wait for them
        self.accelerator = Accelerator(
            gradient_accumulation_steps=accumulation_steps, cpu=device_wanted == "cpu",
            step_scheduler_with_optimizer=False,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        state = self.accelerator.state
        self.device = self.accelerator.device
        self.rank, self.world_size = state.process_index, state.num_processes
        self.is_main = self.accelerator.is_main_process

    @property
    def sync_gradients(self) -> bool:
        return self.accelerator.sync_gradients

    def prepare(self, model, optimizer):
        return self.accelerator.prepare(model, optimizer)

    def autocast(self):
        return self.accelerator.autocast()

    def accumulate(self, model):
        return self.accelerator.accumulate(model)

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(loss)

    def clip(self, params, max_norm: float) -> None:
        self.accelerator.clip_grad_norm_(params, max_norm)

    def unwrap(self, model):
        return self.accelerator.unwrap_model(model)

    def full_state(self, model):
        """The whole state dict (gathered from FSDP shards; every rank must call this)."""
        return self.accelerator.get_state_dict(model)

    def main_says(self, flag: bool) -> bool:
        """The main process's `flag`, on every rank (decisions that lead to collective calls must agree)."""
        from accelerate.utils import broadcast_object_list

        return bool(broadcast_object_list([flag], from_process=0)[0])

    def save_state(self, folder) -> None:
        self.accelerator.save_state(str(folder))

    def load_state(self, folder) -> None:
        self.accelerator.load_state(str(folder))

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    def end(self) -> None:
        """Leave the process group in order, so no rank exits while another still talks to it."""
        import torch.distributed as dist

        self.accelerator.wait_for_everyone()
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    def register(self, obj) -> None:
        self.accelerator.register_for_checkpointing(obj)

"""The trainer benchmark's baseline: the work of diffusers' DreamBooth LoRA example, re-implemented.

    python bench/trainer/dreambooth_reference.py --model DIR --instance-dir DIR --out DIR [--steps N] [--rank R]
        [--learning-rate LR] [--batch-size N] [--resolution PX] [--seed N] [--threads N]

What `examples/dreambooth/train_dreambooth_lora.py` does with its defaults (no prior preservation, no
`--pre_compute_text_embeddings`, no text-encoder LoRA, fp32, `dataloader_num_workers=0`), and nothing more:
- loads the tokenizer, text encoder, VAE, UNet and DDPM scheduler from the model folder, all frozen;
- a peft adapter on the UNet: `LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian")` on the
  script's target modules (those an SD1.5 UNet has: to_q, to_k, to_v, to_out.0);
- plain `torch.optim.AdamW` (betas 0.9/0.999, weight decay 1e-2, eps 1e-8) and a constant LR schedule;
- a DataLoader (shuffled, in the main process) over the instance images: each item opens its file, converts it
  to RGB, resizes and random-crops it to the resolution (a no-op on ready-made crops), normalises it, and
  tokenizes the instance prompt;
- every step: VAE encode of the batch (a sample of the latent distribution), noise, timesteps, text encode of the
  batch's prompt ids, the UNet in train mode, MSE loss, backward, gradient clipping at 1.0, optimizer and
  scheduler steps, and the loss read back for the progress bar;
- at the end, the adapter saved with `save_lora_weights` (the script's final validation render is left out:
  the clock stops once the adapter is stored).

Not done here, all of it work the script does that would only slow the baseline: accelerate's wrappers, the tqdm
bar, logging trackers, the model card. No trainer code is used, so the baseline never inherits our changes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from PIL.ImageOps import exif_transpose

# The script's LoRA targets; add_k_proj / add_v_proj exist only in UNets with added key/value projections.
SCRIPT_TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_v_proj"]
MAX_GRAD_NORM = 1.0
ADAM_WEIGHT_DECAY = 1e-2
ADAPTER_FILE_NAME = "pytorch_lora_weights.safetensors"


class DreamBoothDataset(torch.utils.data.Dataset):
    """The script's dataset without prior preservation: an image file and the tokenized prompt per item."""

    def __init__(self, instance_dir: Path, prompt: str, tokenizer, size: int, seed: int):
        self.paths = sorted(p for p in instance_dir.iterdir() if p.is_file())
        self.prompt, self.tokenizer, self.size = prompt, tokenizer, size
        self.crop_rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        image = exif_transpose(Image.open(self.paths[index % len(self.paths)]))
        if image.mode != "RGB":
            image = image.convert("RGB")
        return {"pixel_values": self._transform(image), **self._tokenize()}

    def _transform(self, image: Image.Image) -> torch.Tensor:
        """transforms.Resize(size, BILINEAR), RandomCrop(size), ToTensor(), Normalize([0.5], [0.5])."""
        if min(image.size) != self.size:
            scale = self.size / min(image.size)
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
        left = int(self.crop_rng.integers(0, image.width - self.size + 1))
        top = int(self.crop_rng.integers(0, image.height - self.size + 1))
        image = image.crop((left, top, left + self.size, top + self.size))
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (pixels - 0.5) / 0.5

    def _tokenize(self) -> dict:
        ids = self.tokenizer(
            self.prompt,
            truncation=True,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            return_tensors="pt",
        )
        return {"input_ids": ids.input_ids, "attention_mask": ids.attention_mask}


def collate(examples: list[dict]) -> dict:
    return {
        "pixel_values": torch.stack([e["pixel_values"] for e in examples]).contiguous().float(),
        "input_ids": torch.cat([e["input_ids"] for e in examples]),
        "attention_mask": torch.cat([e["attention_mask"] for e in examples]),
    }


class ReferenceRun:
    """One run of the script: loading (`__init__`), the training loop (`train`), the adapter file (`save`)."""

    def __init__(
        self,
        model: str | Path,
        instance_dir: Path,
        prompt: str,
        *,
        rank: int,
        learning_rate: float,
        batch_size: int,
        resolution: int,
        seed: int,
        device: str = "cpu",
    ):
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from diffusers.optimization import get_scheduler
        from peft import LoraConfig
        from transformers import AutoTokenizer, CLIPTextModel

        torch.manual_seed(seed)  # accelerate's set_seed
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model, subfolder="tokenizer", use_fast=False)
        self.noise_scheduler = DDPMScheduler.from_pretrained(model, subfolder="scheduler")
        self.text_encoder = CLIPTextModel.from_pretrained(model, subfolder="text_encoder")
        self.vae = AutoencoderKL.from_pretrained(model, subfolder="vae")
        self.unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet")
        for module in (self.vae, self.text_encoder, self.unet):
            module.requires_grad_(False)
            module.to(self.device, dtype=torch.float32)
        self.unet.add_adapter(
            LoraConfig(
                r=rank,
                lora_alpha=rank,
                init_lora_weights="gaussian",
                target_modules=[m for m in SCRIPT_TARGET_MODULES if _has_module(self.unet, m)],
            )
        )
        self.params = [p for p in self.unet.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=learning_rate, betas=(0.9, 0.999), weight_decay=ADAM_WEIGHT_DECAY, eps=1e-8
        )
        self.lr_scheduler = get_scheduler("constant", optimizer=self.optimizer)
        dataset = DreamBoothDataset(Path(instance_dir), prompt, self.tokenizer, resolution, seed)
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=collate)

    def train(self, steps: int, on_step: Callable[[int, float], None] | None = None) -> float:
        """`steps` optimizer steps as the script's loop runs them; `on_step(step, loss)` after each."""
        step, loss_value = 0, float("nan")
        while step < steps:
            self.unet.train()
            for batch in self.loader:
                loss_value = self._step(batch)
                step += 1
                if on_step:
                    on_step(step, loss_value)
                if step >= steps:
                    break
        return loss_value

    def _step(self, batch: dict) -> float:
        pixel_values = batch["pixel_values"].to(self.device)
        model_input = self.vae.encode(pixel_values).latent_dist.sample() * self.vae.config.scaling_factor
        noise = torch.randn_like(model_input)
        timesteps = torch.randint(
            0, self.noise_scheduler.config.num_train_timesteps, (model_input.shape[0],), device=self.device
        ).long()
        noisy = self.noise_scheduler.add_noise(model_input, noise, timesteps)
        encoder_hidden_states = self.text_encoder(batch["input_ids"].to(self.device), attention_mask=None)[0]
        prediction = self.unet(noisy, timesteps, encoder_hidden_states, class_labels=None, return_dict=False)[0]
        if self.noise_scheduler.config.prediction_type == "epsilon":
            target = noise
        else:
            target = self.noise_scheduler.get_velocity(model_input, noise, timesteps)
        loss = F.mse_loss(prediction.float(), target.float(), reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, MAX_GRAD_NORM)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad()
        return loss.detach().item()

    def save(self, out_dir: Path) -> Path:
        from diffusers.loaders import StableDiffusionLoraLoaderMixin
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        unet = self.unet.to(torch.float32)
        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        StableDiffusionLoraLoaderMixin.save_lora_weights(
            save_directory=out_dir, unet_lora_layers=layers, weight_name=ADAPTER_FILE_NAME, safe_serialization=True
        )
        return Path(out_dir) / ADAPTER_FILE_NAME


def _has_module(module: torch.nn.Module, suffix: str) -> bool:
    return any(name == suffix or name.endswith("." + suffix) for name, _ in module.named_modules())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--instance-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--prompt", default="a photo of sks person")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    run = ReferenceRun(
        args.model,
        args.instance_dir,
        args.prompt,
        rank=args.rank,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        resolution=args.resolution,
        seed=args.seed,
    )
    loss = run.train(args.steps)
    path = run.save(args.out)
    print(f"adapter {path} after {args.steps} steps (loss {loss:.4f}) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

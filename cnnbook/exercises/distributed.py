"""Exercises of the chapter on training on more than one machine."""
from . import exercise


@exercise("ddp-per-rank-batch", "Global batch 256 on 8 processes over 60,000 images: images per rank and step, and full steps per epoch")
def per_rank_batch_and_steps():
    from ..distributed import shard_indices
    per_rank = 256 // 8
    return (per_rank, len(shard_indices(60000, 8, 0)) // per_rank)


@exercise("ddp-ring-bytes", "Bytes each of 4 workers sends per step to all-reduce LeNet-5's float32 gradients in a ring")
def ring_all_reduce_bytes():
    from ..arithmetic import count_parameters
    from ..distributed import ring_allreduce_bytes
    from ..models import lenet5
    return ring_allreduce_bytes(count_parameters(lenet5()), 4)


@exercise("ddp-fsdp-memory", "Megabytes (10^6 bytes) per GPU of ResNet-50's float32 parameters, gradients and Adam state, fully sharded over 8 GPUs", rtol=1e-3)
def fully_sharded_memory():
    from ..arithmetic import count_parameters
    from ..distributed import sharded_memory_bytes
    from ..models import resnet50
    return sharded_memory_bytes(count_parameters(resnet50()), 8, stage=3) / 1e6

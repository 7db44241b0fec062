"""Numbers the model shares with CLIP, written once (torch-free: the backbone and tests read them)."""

# OpenAI CLIP normalisation (open_clip.constants.OPENAI_DATASET_MEAN / _STD).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

"""More training data from audio a participant finds: long transcribed recordings cut into clips by CTC
alignment, and untranscribed audio pseudo-labelled with a model's confident transcripts."""

"""Quality metrics of trained models (BLEU for translation), each returned with the
signature or settings that make the number reproducible."""

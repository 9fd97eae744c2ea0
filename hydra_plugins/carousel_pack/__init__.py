"""carousel's Hydra launchers that pack a sweep's jobs into shared compiled programs:
``pack`` trains the packs here, ``pack_submitit`` (``pack_slurm``) submits one job per pack."""

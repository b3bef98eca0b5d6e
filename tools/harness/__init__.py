"""The local AWS emulator (moto server and its fixes) and real processes of the handlers around it."""

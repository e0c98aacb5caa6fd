"""Documents people read, composed when they are first read rather than in the steps of a
return: the shipping label's PDF."""
